"""Images on disk: the content store (blobs by digest), layer apply, snapshots, tags, GC."""
