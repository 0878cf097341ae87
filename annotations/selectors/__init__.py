"""Every non-trivial read: ``<entity>_<qualifier>`` functions returning plain data."""
