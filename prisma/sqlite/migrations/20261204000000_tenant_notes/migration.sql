-- Row-scoped keys (see prisma/migrations/20261204000000_tenant_notes).
CREATE TABLE "tenant_notes" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "tenant_id" TEXT NOT NULL,
    "body" TEXT,
    "email" TEXT,
    "email_index" TEXT,
    "author_id" INTEGER,
    CONSTRAINT "tenant_notes_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "tenant_notes_tenant_id_email_index_idx" ON "tenant_notes"("tenant_id", "email_index");
