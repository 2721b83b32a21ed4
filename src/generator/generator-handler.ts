import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generatorHandler } from '@prisma/generator-helper'
import { lintAnnotationText } from './annotation-text-lint'
import { buildEncryptionModel } from './build-encryption-model'
import { renderFailedModule, renderModelModule } from './render-model-module'
import { schemaHashOf } from '../model/schema-hash'

/**
 * Serves `prisma generate`: reads the annotated datamodel and writes `<output>/index.ts`.
 *
 * A failed run must not leave an older model that looks valid (the Prisma client may still be
 * written by its own generator): the output is replaced first by a module that throws when
 * imported, then the new model is written to a temporary file and renamed over it. The model
 * carries the hash of the schema text it was made from; the extension compares it with the
 * schema the Prisma client was generated from.
 */
export function runGenerator(): void {
  generatorHandler({
    onManifest() {
      return { prettyName: 'kms-field-encryption model', defaultOutput: '../src/generated/encryption', requiresGenerators: [] }
    },
    async onGenerate(options) {
      const output = options.generator.output?.value
      if (!output) throw new Error('kms-field-encryption generator: `output` is required')
      await mkdir(output, { recursive: true })
      const target = join(output, 'index.ts')
      await writeFile(target, renderFailedModule())
      const provider = options.datasources[0]?.provider ?? 'postgresql'
      lintAnnotationText(options.datamodel)
      const model = { ...buildEncryptionModel(options.dmmf.datamodel, provider), schemaHash: schemaHashOf(options.datamodel) }
      const temporary = join(output, `.index.ts.${process.pid}.tmp`)
      await writeFile(temporary, renderModelModule(model))
      await rename(temporary, target)
    },
  })
}
