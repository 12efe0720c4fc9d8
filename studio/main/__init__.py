"""The main window and its panels: configuration, controls, status, the timeline, menus and dialogs."""
