"""Demo/test data for the legacy core. It plays the core, so it writes through its own
connection (core_legacy.owner), never through the app's read-only `core` alias."""
