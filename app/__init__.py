"""The application layer: commands that enforce the rules and return the revs they appended,
queries over the read models, read-your-writes (`settle`), asking, and the composition root
(`app.services.open_services`) that `serve`, the gateway and workers share. See
docs/architecture.md."""
