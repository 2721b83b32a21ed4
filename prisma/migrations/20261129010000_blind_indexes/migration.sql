-- Blind indexes: User.emailIndex (unique, of the encrypted email) and the Contact model
-- (an optional encrypted field with a non-unique index, composite primary key).
ALTER TABLE "users" ADD COLUMN "email_index" TEXT;

CREATE TABLE "contacts" (
    "owner_id" INTEGER NOT NULL,
    "seq" INTEGER NOT NULL,
    "nickname" TEXT,
    "nickname_index" TEXT,
    "nickname_plain" TEXT,
    CONSTRAINT "contacts_pkey" PRIMARY KEY ("owner_id","seq")
);

CREATE UNIQUE INDEX "users_email_index_key" ON "users"("email_index");
CREATE INDEX "contacts_nickname_index_idx" ON "contacts"("nickname_index");

ALTER TABLE "contacts" ADD CONSTRAINT "contacts_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
