-- Row-scoped keys (see prisma/migrations/20261204000000_tenant_notes).
CREATE TABLE `tenant_notes` (
    `id` INTEGER NOT NULL AUTO_INCREMENT,
    `tenant_id` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    `body` TEXT NULL,
    `email` TEXT NULL,
    `email_index` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    `author_id` INTEGER NULL,
    INDEX `tenant_notes_tenant_id_email_index_idx`(`tenant_id`, `email_index`),
    PRIMARY KEY (`id`),
    CONSTRAINT `tenant_notes_author_id_fkey` FOREIGN KEY (`author_id`) REFERENCES `users`(`id`) ON DELETE CASCADE ON UPDATE CASCADE
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
