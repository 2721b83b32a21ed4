-- The key table of per-tenant keys (localScopeKeys with prismaScopeKeyStore): one row per scope,
-- its random key wrapped under the master key (base64). A shredded scope keeps its row as a
-- tombstone: wrapped_key erased, shredded_at set, so the scope is never silently re-created.
CREATE TABLE "kfe_scope_keys" (
    "scope" TEXT NOT NULL,
    "provider_id" TEXT NOT NULL,
    "wrapped_key" TEXT,
    "shredded_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "kfe_scope_keys_pkey" PRIMARY KEY ("scope")
);
