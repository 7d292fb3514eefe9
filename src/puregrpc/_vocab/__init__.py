"""L0 vocabulary (standard library only): status codes and `Status`, metadata, deadlines and the
`grpc-timeout` codec, the exception tree (`errors`), identity caches."""
