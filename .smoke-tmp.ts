import { CreateKeyCommand, CreateAliasCommand, DescribeKeyCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms'
import { KmsTestServer, kmsClientFor } from '/work/main/tests/support/kms-test-server'
import { AwsKmsKeyProvider } from '/work/main/src/keys/aws-kms-key-provider'
async function main() {
  const server = new KmsTestServer()
  const { endpoint } = await server.start()
  const client = kmsClientFor(endpoint)
  const k = await client.send(new CreateKeyCommand({ Description: 'x' }))
  console.log(k.KeyMetadata)
  await client.send(new CreateAliasCommand({ AliasName: 'alias/app', TargetKeyId: k.KeyMetadata!.KeyId! }))
  const p = new AwsKmsKeyProvider({ keyId: 'alias/app', client })
  const g = await p.generateDataKey()
  console.log(g.wrapped.length, (await p.unwrapDataKey(g.wrapped)).equals(g.plaintext), p.currentKeyArn)
  try { await client.send(new GenerateDataKeyCommand({ KeyId: 'alias/app' })) } catch (e: any) { console.log(e.name, e.message, e.$metadata, e.$fault) }
  server.failNext(2, 'ThrottlingException')
  const t0 = Date.now(); await p.generateDataKey(); console.log('throttled ok', Date.now() - t0, server.calls.GenerateDataKey)
  server.failNext(5, 'KMSInternalException')
  try { await p.generateDataKey() } catch (e: any) { console.log(e.code, e.message, e.cause?.name, e.cause?.$metadata) }
  server.clearFaults(); server.dropConnections(1)
  await p.generateDataKey(); console.log('drop ok')
  server.dropConnections(5)
  try { await p.generateDataKey() } catch (e: any) { console.log(e.code, e.message, e.cause?.name, e.cause?.code, e.cause?.$metadata) }
  server.clearFaults(); server.hang = true
  const q = new AwsKmsKeyProvider({ keyId: 'alias/app', clientConfig: { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }, requestTimeoutMs: 200 })
  const t1 = Date.now()
  try { await q.generateDataKey() } catch (e: any) { console.log(e.code, e.message, e.cause?.name, Date.now() - t1, server.calls.GenerateDataKey) }
  q.destroy(); client.destroy()
  await server.stop()
}
main()
