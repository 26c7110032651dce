"""What people read: the scan's tables and reports (``report``), progress (``progress``),
and learn's label table (``learnt``)."""
