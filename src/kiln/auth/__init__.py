"""Authentication and authorisation: SigV4 and bearer keys at one gate, IAM-style policies."""
