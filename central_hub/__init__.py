"""The Central Hub: a service registry of gateway instances on a NATS JetStream key-value bucket (see README.md)."""
