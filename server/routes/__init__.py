"""HTTP routes (docs/server.md): health, uploads, jobs, results."""
