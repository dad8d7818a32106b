"""Local stand-ins for the providers' servers, for tests and benchmarks: real sockets, recorded data."""
