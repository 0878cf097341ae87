"""HTML views (htmx): parse the request, call one service or selector, render."""
