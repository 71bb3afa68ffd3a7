"""Throughput benchmark: openacm against moto, same data, same load generator (wrk)."""
