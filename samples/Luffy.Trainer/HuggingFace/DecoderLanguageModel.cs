using Luffy.Trainer.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Luffy.Trainer.HuggingFace;

/// <summary>
/// The Qwen2 / Llama decoder-only transformer: token embedding, pre-norm layers of grouped-query attention with
/// rotary position embeddings (rope_theta) and a SwiGLU MLP, RMSNorm (computed in float32, as the reference), a final
/// norm and an LM head that is tied to the embedding or not. Parameter names are exactly those of the Hugging Face
/// checkpoints (<c>model.layers.0.self_attn.q_proj.weight</c>, ...), so <see cref="nn.Module.state_dict"/> maps
/// one-to-one onto safetensors files. Qwen2 has biases on q/k/v; Llama's attention_bias / mlp_bias flags are honoured.
/// </summary>
public sealed class DecoderLanguageModel : CausalLanguageModel
{
    private readonly Backbone backbone;
    private readonly Linear? lmHead;

    /// <summary>Builds a randomly initialized model of <paramref name="config"/> in <paramref name="dtype"/> on the CPU.</summary>
    public DecoderLanguageModel(TransformerConfig config, ScalarType dtype = ScalarType.Float32) : base("decoder_language_model")
    {
        Config = config;
        backbone = new Backbone(config, dtype);
        register_module("model", backbone);
        if (!config.TieWordEmbeddings)
        {
            lmHead = Linear(config.HiddenSize, config.VocabularySize, hasBias: false, dtype: dtype);
            register_module("lm_head", lmHead);
        }
    }

    /// <summary>The architecture.</summary>
    public TransformerConfig Config { get; }

    /// <inheritdoc/>
    public override int Layers => Config.Layers;

    /// <inheritdoc/>
    public override Tensor OutputWeight => lmHead?.weight ?? backbone.EmbedTokens.weight!;

    /// <inheritdoc/>
    public override Tensor HiddenStates(Tensor ids, Tensor positionIds, Tensor keyMask, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        ScalarType dtype = backbone.EmbedTokens.weight!.dtype;
        long offset = cache?.Length ?? 0;
        Tensor mask = AttentionMask(keyMask, offset, ids.shape[1], dtype);
        (Tensor cos, Tensor sin) = Rotary(positionIds, Config.HeadDim, Config.RopeTheta, dtype);
        Tensor x = backbone.EmbedTokens.call(ids);
        for (int i = 0; i < backbone.Layers.Count; i++)
        {
            x = backbone.Layers[i].Forward(x, cos, sin, mask, cache, i);
        }
        return backbone.Norm.Forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>cos and sin of the rotary angles, (B, 1, T, D) each in <paramref name="dtype"/>; angles are computed in float32.</summary>
    internal static (Tensor Cos, Tensor Sin) Rotary(Tensor positionIds, int headDim, double theta, ScalarType dtype)
    {
        Tensor inverseFrequency = 1.0f / pow(theta, arange(0, headDim, 2, ScalarType.Int64, positionIds.device).to_type(ScalarType.Float32) / headDim);
        Tensor angles = positionIds.to_type(ScalarType.Float32).unsqueeze(-1) * inverseFrequency; // (B, T, D/2)
        Tensor both = cat([angles, angles], -1).unsqueeze(1);
        return (both.cos().to_type(dtype), both.sin().to_type(dtype));
    }

    private static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }

    private sealed class Backbone : nn.Module
    {
        public Backbone(TransformerConfig config, ScalarType dtype) : base("model")
        {
            EmbedTokens = Embedding(config.VocabularySize, config.HiddenSize, dtype: dtype);
            Layers = new ModuleList<DecoderLayer>(Enumerable.Range(0, config.Layers).Select(_ => new DecoderLayer(config, dtype)).ToArray());
            Norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
            register_module("embed_tokens", EmbedTokens);
            register_module("layers", Layers);
            register_module("norm", Norm);
        }

        public Embedding EmbedTokens { get; }

        public ModuleList<DecoderLayer> Layers { get; }

        public RmsNorm Norm { get; }
    }

    private sealed class DecoderLayer : nn.Module
    {
        private readonly Attention attention;
        private readonly Mlp mlp;
        private readonly RmsNorm inputNorm, postAttentionNorm;

        public DecoderLayer(TransformerConfig config, ScalarType dtype) : base("layer")
        {
            attention = new Attention(config, dtype);
            mlp = new Mlp(config, dtype);
            inputNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
            postAttentionNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
            register_module("self_attn", attention);
            register_module("mlp", mlp);
            register_module("input_layernorm", inputNorm);
            register_module("post_attention_layernorm", postAttentionNorm);
        }

        public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache, int layer)
        {
            x = x + attention.Forward(inputNorm.Forward(x), cos, sin, mask, cache, layer);
            return x + mlp.Forward(postAttentionNorm.Forward(x));
        }
    }

    private sealed class Attention : nn.Module
    {
        private readonly Linear q, k, v, o;
        private readonly int heads, kvHeads, headDim;

        public Attention(TransformerConfig c, ScalarType dtype) : base("self_attn")
        {
            heads = c.AttentionHeads;
            kvHeads = c.KeyValueHeads;
            headDim = c.HeadDim;
            q = Linear(c.HiddenSize, heads * headDim, hasBias: c.QkvBias, dtype: dtype);
            k = Linear(c.HiddenSize, kvHeads * headDim, hasBias: c.QkvBias, dtype: dtype);
            v = Linear(c.HiddenSize, kvHeads * headDim, hasBias: c.QkvBias, dtype: dtype);
            o = Linear(heads * headDim, c.HiddenSize, hasBias: c.OutputBias, dtype: dtype);
            register_module("q_proj", q);
            register_module("k_proj", k);
            register_module("v_proj", v);
            register_module("o_proj", o);
        }

        public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache, int layer)
        {
            long b = x.shape[0], t = x.shape[1];
            Tensor query = q.call(x).view(b, t, heads, headDim).transpose(1, 2);
            Tensor key = k.call(x).view(b, t, kvHeads, headDim).transpose(1, 2);
            Tensor value = v.call(x).view(b, t, kvHeads, headDim).transpose(1, 2);
            query = query * cos + RotateHalf(query) * sin;
            key = key * cos + RotateHalf(key) * sin;
            if (cache is not null)
            {
                (key, value) = cache.Append(layer, key, value);
            }
            if (heads != kvHeads)
            {
                key = key.repeat_interleave(heads / kvHeads, 1);
                value = value.repeat_interleave(heads / kvHeads, 1);
            }
            Tensor attended = functional.scaled_dot_product_attention(query, key, value, mask, 0.0, false);
            return o.call(attended.transpose(1, 2).reshape(b, t, heads * headDim));
        }
    }

    private sealed class Mlp : nn.Module
    {
        private readonly Linear gate, up, down;

        public Mlp(TransformerConfig c, ScalarType dtype) : base("mlp")
        {
            gate = Linear(c.HiddenSize, c.IntermediateSize, hasBias: c.MlpBias, dtype: dtype);
            up = Linear(c.HiddenSize, c.IntermediateSize, hasBias: c.MlpBias, dtype: dtype);
            down = Linear(c.IntermediateSize, c.HiddenSize, hasBias: c.MlpBias, dtype: dtype);
            register_module("gate_proj", gate);
            register_module("up_proj", up);
            register_module("down_proj", down);
        }

        public Tensor Forward(Tensor x) => down.call(functional.silu(gate.call(x)) * up.call(x));
    }

    /// <summary>RMSNorm as the reference: normalize in float32, cast back, then scale by the weight.</summary>
    private sealed class RmsNorm : nn.Module
    {
        private readonly Parameter weight;
        private readonly double eps;

        public RmsNorm(int size, double eps, ScalarType dtype) : base("rms_norm")
        {
            this.eps = eps;
            weight = new Parameter(ones(size, dtype: dtype));
            register_parameter("weight", weight);
        }

        public Tensor Forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            Tensor x32 = x.to_type(ScalarType.Float32);
            Tensor normalized = x32 * (x32.pow(2).mean([-1], keepdim: true) + eps).rsqrt();
            return (weight * normalized.to_type(x.dtype)).MoveToOuterDisposeScope();
        }
    }
}
