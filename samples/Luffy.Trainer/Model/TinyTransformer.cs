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
    public override Tensor HiddenStates(Tensor ids, Tensor positionIds, Tensor keyMask, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        long offset = cache?.Length ?? 0;
        Tensor mask = AttentionMask(keyMask, offset, ids.shape[1], tokenEmbedding.weight!.dtype);

        Tensor x = tokenEmbedding.call(ids);
        (Tensor cos, Tensor sin) = RotaryPositions.Angles(positionIds, Config.DModel / Config.Heads, RopeTheta, x.dtype);
        for (int i = 0; i < blocks.Count; i++)
        {
            x = blocks[i].Forward(x, cos, sin, mask, cache, i);
        }
        return finalNorm.call(x).MoveToOuterDisposeScope();
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

        public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache, int layer)
        {
            long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / heads;
            Tensor[] parts = qkv.call(norm1.call(x)).chunk(3, 2);
            Tensor q = RotaryPositions.Apply(parts[0].view(b, t, heads, hd).transpose(1, 2), cos, sin);
            Tensor k = RotaryPositions.Apply(parts[1].view(b, t, heads, hd).transpose(1, 2), cos, sin);
            Tensor v = parts[2].view(b, t, heads, hd).transpose(1, 2);
            if (cache is not null)
            {
                (k, v) = cache.Append(layer, k, v);
            }
            Tensor attended = functional.scaled_dot_product_attention(q, k, v, mask, 0.0, false);
            x = x + projection.call(attended.transpose(1, 2).reshape(b, t, d));
            return x + fc2.call(functional.gelu(fc1.call(norm2.call(x))));
        }
    }
}
