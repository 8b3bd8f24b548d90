// Keeps mcpgate_test_support a valid library while support/ has no other sources.
