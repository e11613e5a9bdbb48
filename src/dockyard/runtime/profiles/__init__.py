"""Default security policy as data, each entry with a one-line reason (DESIGN.md §6, §8).

- ``defaults``: Docker's 14 default capabilities, masked paths and read-only paths.
- ``seccomp_default``: our default seccomp allowlist and ``seccomp_for(caps, arch)``, which
  gives the OCI ``linux.seccomp`` object for a container holding those capabilities.

Both modules are Python literals, so importing them parses no files. Import the one you
need (``from dockyard.runtime.profiles import defaults``): this package imports neither, so
asking for the paths does not pay for the seccomp table (~2 ms).
"""
