"""What each command does, without parsing arguments, printing or exiting: the library's front door, which the CLI
and the GitHub Action call."""
