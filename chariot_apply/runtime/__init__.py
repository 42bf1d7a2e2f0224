"""How the process runs, whatever the layer: the entry points' event loop and garbage-collection policy, bounded
concurrency, lazy imports, and writing the files chariot-apply owns."""
