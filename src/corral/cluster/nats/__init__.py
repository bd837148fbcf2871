"""Scale-out over NATS JetStream: the fabric's names and connection, the wire messages between the hub
and its nodes, and the hub's side of them (membership, remote calls). The node's side is ``corral.node``.
"""
