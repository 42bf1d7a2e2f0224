"""What a user is told when something is wrong: the one base class of the errors a user acts on, and did-you-mean."""
