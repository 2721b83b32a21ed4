-- The key table of per-tenant keys (see prisma/migrations/20261203000000_scope_keys).
CREATE TABLE "kfe_scope_keys" (
    "scope" TEXT NOT NULL PRIMARY KEY,
    "provider_id" TEXT NOT NULL,
    "wrapped_key" TEXT,
    "shredded_at" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
