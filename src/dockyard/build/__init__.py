"""Building images from Dockerfiles (BuildKit semantics): the parser and instruction model
(``build.dockerfile``) and ``.dockerignore`` matching (``build.dockerignore``)."""
