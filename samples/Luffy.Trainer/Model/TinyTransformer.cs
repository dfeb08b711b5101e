using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Luffy.Trainer.Model;

/// <summary>
/// A small pre-norm decoder-only transformer (rotary position embeddings, GELU MLP) with an optional KV cache. Rotary
/// positions leave no position untrained: attention sees only relative offsets, so sequences longer than any seen in
/// training are not out of range by construction (learned absolute positions were). Padding is handled with an
/// explicit key mask, so left-padded prompts and right-padded responses batch together.
/// </summary>
public sealed class TinyTransformer : CausalLanguageModel
{
    private const double RopeTheta = 10_000;
    private readonly Embedding tokenEmbedding;
    private readonly ModuleList<Block> blocks;
    private readonly LayerNorm finalNorm;
    private readonly Linear head;

    public TinyTransformer(ModelConfig config) : base("tiny_transformer")
    {
        config.Validate();
        Config = config;
        tokenEmbedding = Embedding(config.VocabularySize, config.DModel);
        blocks = new ModuleList<Block>(Enumerable.Range(0, config.Layers).Select(_ => new Block(config.DModel, config.Heads)).ToArray());
        finalNorm = LayerNorm(config.DModel);
        head = Linear(config.DModel, config.VocabularySize, hasBias: false);
        RegisterComponents();
    }

    public ModelConfig Config { get; }

    /// <inheritdoc/>
    public override int Layers => Config.Layers;

    /// <inheritdoc/>
    public override Tensor OutputWeight => head.weight!;

    /// <summary>A fresh model with the same configuration and a copy of this one's weights.</summary>
    public TinyTransformer Copy()
    {
        var copy = new TinyTransformer(Config);
        copy.load_state_dict(state_dict());
        return copy;
    }

    /// <inheritdoc/>
    /// <remarks>Runs on <see cref="CausalLanguageModel.LayoutFor"/>'s layout.</remarks>
    public override Tensor HiddenStates(Tensor ids, Tensor positionIds, Tensor keyMask, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        long offset = cache?.Length ?? 0;
        Tensor mask = AttentionMask(keyMask, offset, ids.shape[1], tokenEmbedding.weight!.dtype);
        (Tensor cos, Tensor signedSin) = RotaryPositions.Angles(positionIds, Config.DModel / Config.Heads, RopeTheta, tokenEmbedding.weight!.dtype);
        using TokenLayout? layout = LayoutFor(ids, positionIds, keyMask, offset);
        Tensor x = tokenEmbedding.call(layout?.SlotIds(ids) ?? ids);
        for (int i = 0; i < blocks.Count; i++)
        {
            x = blocks[i].Forward(x, cos, signedSin, mask, cache, i, layout, ids.shape[0], ids.shape[1]);
        }
        Tensor hidden = finalNorm.call(x);
        return (layout?.Padded(hidden) ?? hidden).MoveToOuterDisposeScope();
    }

    /// <summary>A transformer block: pre-norm attention and MLP with residuals.</summary>
    private sealed class Block : Module
    {
        private readonly LayerNorm norm1, norm2;
        private readonly Linear qkv, projection, fc1, fc2;
        private readonly int heads;

        public Block(int dModel, int heads) : base("block")
        {
            this.heads = heads;
            norm1 = LayerNorm(dModel);
            norm2 = LayerNorm(dModel);
            qkv = Linear(dModel, 3 * dModel);
            projection = Linear(dModel, dModel);
            fc1 = Linear(dModel, 4 * dModel);
            fc2 = Linear(4 * dModel, dModel);
            RegisterComponents();
        }

        /// <param name="x">The residual stream: (B, T, C), or (N, C) slots of <paramref name="layout"/>.</param>
        public Tensor Forward(Tensor x, Tensor cos, Tensor signedSin, Tensor mask, KvCache? cache, int layer, TokenLayout? layout, long b, long t)
        {
            long d = x.shape[^1], hd = d / heads;
            Tensor projected = qkv.call(norm1.call(x));
            // (3, B, heads, T, hd): queries and keys are rotated together, by one rotary application
            Tensor qkvHeads = (layout?.Padded(projected) ?? projected).view(b, t, 3, heads, hd).permute(2, 0, 3, 1, 4);
            Tensor rotated = RotaryPositions.Apply(qkvHeads.narrow(0, 0, 2), cos, signedSin);
            Tensor q = rotated[0], k = rotated[1], v = qkvHeads[2];
            if (cache is not null)
            {
                (k, v) = cache.Append(layer, k, v);
            }
            Tensor attended = functional.scaled_dot_product_attention(q, k, v, mask, 0.0, false);
            Tensor merged = attended.transpose(1, 2).reshape(b, t, d);
            x = x + projection.call(layout?.Packed(merged) ?? merged);
            return x + fc2.call(functional.gelu(fc1.call(norm2.call(x))));
        }
    }
}
