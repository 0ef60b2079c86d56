"""The content-addressed blob store (:mod:`.blobs`): every stored file by its SHA-256."""
