"""Media service: validates, cleans and stores photos/documents; hands out short-lived links."""
