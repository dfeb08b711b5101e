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
    // Field names are the checkpoint's module names: RegisterComponents registers fields by name.
#pragma warning disable IDE1006
    private readonly Backbone model;
    private readonly Linear? lm_head;
#pragma warning restore IDE1006

    /// <summary>Builds a randomly initialized model of <paramref name="config"/> in <paramref name="dtype"/> on the CPU.</summary>
    public DecoderLanguageModel(TransformerConfig config, ScalarType dtype = ScalarType.Float32) : base("decoder_language_model")
    {
        Config = config;
        model = new Backbone(config, dtype);
        if (!config.TieWordEmbeddings)
        {
            lm_head = Linear(config.HiddenSize, config.VocabularySize, hasBias: false, dtype: dtype);
        }
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public TransformerConfig Config { get; }

    /// <inheritdoc/>
    public override int Layers => Config.Layers;

    /// <inheritdoc/>
    public override Tensor OutputWeight => lm_head?.weight ?? model.embed_tokens.weight!;

    /// <inheritdoc/>
    /// <remarks>Runs on <see cref="CausalLanguageModel.LayoutFor"/>'s layout.</remarks>
    public override Tensor HiddenStates(Tensor ids, Tensor positionIds, Tensor keyMask, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        ScalarType dtype = model.embed_tokens.weight!.dtype;
        long offset = cache?.Length ?? 0;
        Tensor mask = AttentionMask(keyMask, offset, ids.shape[1], dtype);
        (Tensor cos, Tensor signedSin) = RotaryPositions.Angles(positionIds, Config.HeadDim, Config.RopeTheta, dtype);
        using TokenLayout? layout = LayoutFor(ids, positionIds, keyMask, offset);
        Tensor x = model.embed_tokens.call(layout?.SlotIds(ids) ?? ids);
        for (int i = 0; i < model.layers.Count; i++)
        {
            x = model.layers[i].Forward(x, cos, signedSin, mask, cache, i, layout, ids.shape[0], ids.shape[1]);
        }
        Tensor hidden = model.norm.Forward(x);
        return (layout?.Padded(hidden) ?? hidden).MoveToOuterDisposeScope();
    }


#pragma warning disable IDE1006, SA1307 // field names = checkpoint names
    private sealed class Backbone : nn.Module
    {
        public readonly Embedding embed_tokens;
        public readonly ModuleList<DecoderLayer> layers;
        public readonly RmsNorm norm;

        public Backbone(TransformerConfig config, ScalarType dtype) : base("model")
        {
            embed_tokens = Embedding(config.VocabularySize, config.HiddenSize, dtype: dtype);
            layers = new ModuleList<DecoderLayer>(Enumerable.Range(0, config.Layers).Select(_ => new DecoderLayer(config, dtype)).ToArray());
            norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
            RegisterComponents();
        }
    }

    private sealed class DecoderLayer : nn.Module
    {
        private readonly Attention self_attn;
        private readonly Mlp mlp;
        private readonly RmsNorm input_layernorm, post_attention_layernorm;

        public DecoderLayer(TransformerConfig config, ScalarType dtype) : base("layer")
        {
            self_attn = new Attention(config, dtype);
            mlp = new Mlp(config, dtype);
            input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
            post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
            RegisterComponents();
        }

        /// <param name="x">The residual stream: (B, T, C), or (N, C) slots of <paramref name="layout"/>.</param>
        public Tensor Forward(Tensor x, Tensor cos, Tensor signedSin, Tensor mask, KvCache? cache, int layer, TokenLayout? layout, long b, long t)
        {
            x = x + self_attn.Forward(input_layernorm.Forward(x), cos, signedSin, mask, cache, layer, layout, b, t);
            return x + mlp.Forward(post_attention_layernorm.Forward(x));
        }
    }

    private sealed class Attention : nn.Module
    {
        private readonly Linear q_proj, k_proj, v_proj, o_proj;
        private readonly int heads, kvHeads, headDim;

        public Attention(TransformerConfig c, ScalarType dtype) : base("self_attn")
        {
            heads = c.AttentionHeads;
            kvHeads = c.KeyValueHeads;
            headDim = c.HeadDim;
            q_proj = Linear(c.HiddenSize, heads * headDim, hasBias: c.QkvBias, dtype: dtype);
            k_proj = Linear(c.HiddenSize, kvHeads * headDim, hasBias: c.QkvBias, dtype: dtype);
            v_proj = Linear(c.HiddenSize, kvHeads * headDim, hasBias: c.QkvBias, dtype: dtype);
            o_proj = Linear(heads * headDim, c.HiddenSize, hasBias: c.OutputBias, dtype: dtype);
            RegisterComponents();
        }

        public Tensor Forward(Tensor x, Tensor cos, Tensor signedSin, Tensor mask, KvCache? cache, int layer, TokenLayout? layout, long b, long t)
        {
            Tensor Padded(Tensor perToken) => layout?.Padded(perToken) ?? perToken;
            Tensor query = Padded(q_proj.call(x)).view(b, t, heads, headDim).transpose(1, 2);
            Tensor key = Padded(k_proj.call(x)).view(b, t, kvHeads, headDim).transpose(1, 2);
            Tensor value = Padded(v_proj.call(x)).view(b, t, kvHeads, headDim).transpose(1, 2);
            query = RotaryPositions.Apply(query, cos, signedSin);
            key = RotaryPositions.Apply(key, cos, signedSin);
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
            Tensor merged = attended.transpose(1, 2).reshape(b, t, heads * headDim);
            return o_proj.call(layout?.Packed(merged) ?? merged);
        }
    }

    private sealed class Mlp : nn.Module
    {
        private readonly Linear gate_proj, up_proj, down_proj;

        public Mlp(TransformerConfig c, ScalarType dtype) : base("mlp")
        {
            gate_proj = Linear(c.HiddenSize, c.IntermediateSize, hasBias: c.MlpBias, dtype: dtype);
            up_proj = Linear(c.HiddenSize, c.IntermediateSize, hasBias: c.MlpBias, dtype: dtype);
            down_proj = Linear(c.IntermediateSize, c.HiddenSize, hasBias: c.MlpBias, dtype: dtype);
            RegisterComponents();
        }

        public Tensor Forward(Tensor x) => down_proj.call(functional.silu(gate_proj.call(x)) * up_proj.call(x));
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
            RegisterComponents();
        }

        public Tensor Forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            Tensor x32 = x.to_type(ScalarType.Float32);
            Tensor normalized = x32 * (x32.pow(2).mean([-1], keepdim: true) + eps).rsqrt();
            return (weight * normalized.to_type(x.dtype)).MoveToOuterDisposeScope();
        }
    }
#pragma warning restore IDE1006, SA1307
}
