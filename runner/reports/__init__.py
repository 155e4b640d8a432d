"""Reports as the commands and the pages show them: HTML with charts, CSV rows."""
