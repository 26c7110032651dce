"""What the lowest modules import: finding files needs no tag library, a model file's
header no torch."""

from __future__ import annotations


def test_pure_modules_stay_pure():
    """Finding files needs no tag library, and reading a model file's header no torch."""
    import subprocess
    import sys

    code = (
        "import sys, genretag.library.discover, genretag.models.file, "
        "genretag.deciding.policy, genretag.deciding.genres; "
        "print(sorted(m for m in ('mutagen', 'torch', 'pydub', 'librosa') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
