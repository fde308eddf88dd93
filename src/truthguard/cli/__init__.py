"""The ``truthguard`` command-line tool (thin: it parses, calls the library and formats)."""
