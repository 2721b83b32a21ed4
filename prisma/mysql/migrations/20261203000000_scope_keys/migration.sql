-- The key table of per-tenant keys (see prisma/migrations/20261203000000_scope_keys).
CREATE TABLE `kfe_scope_keys` (
    `scope` VARCHAR(255) NOT NULL,
    `provider_id` VARCHAR(255) NOT NULL,
    `wrapped_key` TEXT NULL,
    `shredded_at` DATETIME(3) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (`scope`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
