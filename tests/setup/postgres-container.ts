import { existsSync } from 'node:fs'

/**
 * Starts PostgreSQL 15 in a container (opt-in with KFE_TESTCONTAINERS=1) and returns its URL.
 * Says plainly when no Docker engine is reachable instead of failing obscurely.
 */
export async function startPostgresContainer(): Promise<string> {
  const socket = '/var/run/docker.sock'
  if (!process.env.DOCKER_HOST && !existsSync(socket)) {
    throw new Error(
      'KFE_TESTCONTAINERS=1 asks for a PostgreSQL container, but no Docker engine is reachable here ' +
        `(DOCKER_HOST is unset and ${socket} does not exist). Start Docker, or unset KFE_TESTCONTAINERS to run on the ` +
        'embedded PGlite, or set DATABASE_URL to a PostgreSQL server.',
    )
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
  try {
    const container = await new PostgreSqlContainer('postgres:15').start()
    ;(globalThis as { __kfePostgresContainer?: { stop(): Promise<unknown> } }).__kfePostgresContainer = container
    return container.getConnectionUri()
  } catch (err) {
    throw new Error(`KFE_TESTCONTAINERS=1: could not start a PostgreSQL container through Docker: ${(err as Error).message}`)
  }
}

export async function stopPostgresContainer(): Promise<void> {
  await (globalThis as { __kfePostgresContainer?: { stop(): Promise<unknown> } }).__kfePostgresContainer?.stop()
}
