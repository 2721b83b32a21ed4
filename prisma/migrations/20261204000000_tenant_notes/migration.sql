-- Row-scoped keys (issue 13): tenant_notes' encrypted values are bound to the row's tenant_id.
CREATE TABLE "tenant_notes" (
    "id" SERIAL NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "body" TEXT,
    "email" TEXT,
    "email_index" TEXT,
    "author_id" INTEGER,
    CONSTRAINT "tenant_notes_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "tenant_notes_tenant_id_email_index_idx" ON "tenant_notes"("tenant_id", "email_index");
ALTER TABLE "tenant_notes" ADD CONSTRAINT "tenant_notes_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
