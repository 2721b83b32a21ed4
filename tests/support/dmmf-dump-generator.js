#!/usr/bin/env node
'use strict'
// A Prisma generator for the tests: writes the datamodel (DMMF) that Prisma hands generators,
// and the datasource provider, to <output>/dmmf.json. Lets a test run buildEncryptionModel
// in-process on the real DMMF of a schema, without @prisma/internals.
const { mkdirSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')
const { generatorHandler } = require('@prisma/generator-helper')

generatorHandler({
  onManifest: () => ({ prettyName: 'DMMF dump (tests)', requiresGenerators: [] }),
  async onGenerate(options) {
    const out = options.generator.output && options.generator.output.value
    if (!out) throw new Error('output is required')
    mkdirSync(out, { recursive: true })
    const provider = (options.datasources[0] && options.datasources[0].provider) || 'postgresql'
    writeFileSync(join(out, 'dmmf.json'), JSON.stringify({ provider, datamodel: options.dmmf.datamodel }))
  },
})
