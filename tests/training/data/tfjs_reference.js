// The reference forward pass of a TF.js graph model: @tensorflow/tfjs on its pure-JS CPU backend.
// usage: node tfjs_reference.js model.json input.f32 N H W output_node out.f32
// input.f32: N x H x W x 3 float32 (NHWC, the network's own input scaling); out.f32: the output node's values.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [modelJson, inputPath, n, h, w, outputNode, outPath] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = JSON.parse(fs.readFileSync(modelJson));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(modelJson), p)));
  }
  const blob = Buffer.concat(buffers);
  const weightData = blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength);
  const graph = await tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: specs, weightData, format: model.format }),
  );
  const raw = fs.readFileSync(inputPath);
  const x = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [+n, +h, +w, 3]);
  const y = graph.execute(x, outputNode);
  fs.writeFileSync(outPath, Buffer.from(new Float32Array(await y.data()).buffer));
}

main();
