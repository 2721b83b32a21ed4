-- Stored format v2 key headers (see prisma/migrations/20261205000000_patients). A key header
-- column is TEXT (a header is about 320 characters under AWS KMS; VARCHAR(191) is too short).
CREATE TABLE `patients` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `name` TEXT NOT NULL,
    `name_key` TEXT NULL,
    `ssn` TEXT NULL,
    `ssn_key` TEXT NULL,
    `ssn_index` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    `scan` MEDIUMBLOB NULL,
    `scan_key` TEXT NULL,
    `note` VARCHAR(191) NULL,
    `doctor_id` INTEGER NULL,
    UNIQUE INDEX `patients_ssn_index_key`(`ssn_index`),
    PRIMARY KEY (`id`),
    CONSTRAINT `patients_doctor_id_fkey` FOREIGN KEY (`doctor_id`) REFERENCES `users`(`id`) ON DELETE CASCADE ON UPDATE CASCADE
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
