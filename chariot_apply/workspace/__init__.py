"""Where a command works: the project file and its manifests, who we are, which Chariot to reach and how, the files
kept beside the project (the lock, pending model creates), and the locks that keep writers apart."""
