"""Measuring models the way users meet them: artist-grouped cross-validation
(``evaluate``) and music of genres held out of training (``ood``)."""
