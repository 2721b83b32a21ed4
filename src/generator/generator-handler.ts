import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generatorHandler } from '@prisma/generator-helper'
import { lintAnnotationText } from './annotation-text-lint'
import { buildEncryptionModel } from './build-encryption-model'
import { renderModelModule } from './render-model-module'

/** Serves `prisma generate`: reads the annotated datamodel and writes `<output>/index.ts`. */
export function runGenerator(): void {
  generatorHandler({
    onManifest() {
      return { prettyName: 'kms-field-encryption model', defaultOutput: '../src/generated/encryption', requiresGenerators: [] }
    },
    async onGenerate(options) {
      const output = options.generator.output?.value
      if (!output) throw new Error('kms-field-encryption generator: `output` is required')
      const provider = options.datasources[0]?.provider ?? 'postgresql'
      lintAnnotationText(options.datamodel)
      const model = buildEncryptionModel(options.dmmf.datamodel, provider)
      await mkdir(output, { recursive: true })
      await writeFile(join(output, 'index.ts'), renderModelModule(model))
    },
  })
}
