-- Stored format v2 (short values, docs/format-v2.md): patients' encrypted fields each have a
-- key header column (name_key, ssn_key, scan_key) holding the encrypted data key.
CREATE TABLE "patients" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "name_key" TEXT,
    "ssn" TEXT,
    "ssn_key" TEXT,
    "ssn_index" TEXT,
    "scan" BYTEA,
    "scan_key" TEXT,
    "note" TEXT,
    "doctor_id" INTEGER,
    CONSTRAINT "patients_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "patients_ssn_index_key" ON "patients"("ssn_index");
ALTER TABLE "patients" ADD CONSTRAINT "patients_doctor_id_fkey" FOREIGN KEY ("doctor_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
