"""``python -m phantoms OUT_DIR``: write the bundled sample study into OUT_DIR."""

from phantoms.sample import main

raise SystemExit(main())
