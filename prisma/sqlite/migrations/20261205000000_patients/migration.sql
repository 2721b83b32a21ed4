-- Stored format v2 key headers (see prisma/migrations/20261205000000_patients).
CREATE TABLE "patients" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "name_key" TEXT,
    "ssn" TEXT,
    "ssn_key" TEXT,
    "ssn_index" TEXT,
    "scan" BLOB,
    "scan_key" TEXT,
    "note" TEXT,
    "doctor_id" INTEGER,
    CONSTRAINT "patients_doctor_id_fkey" FOREIGN KEY ("doctor_id") REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "patients_ssn_index_key" ON "patients"("ssn_index");
