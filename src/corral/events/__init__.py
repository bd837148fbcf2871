"""What happened in the hub, as a stream of events other parts can follow."""
