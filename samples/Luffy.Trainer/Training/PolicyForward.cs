using Luffy.Objectives.Batching;
using Luffy.Objectives.Tokens;
using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Training;

/// <summary>Log-probs and entropies of a batch's response tokens under the model.</summary>
public static class PolicyForward
{
    /// <summary>Vocabularies at least this large never materialize (B, T, V) logits.</summary>
    public const int ChunkedVocabulary = 32_768;

    /// <summary>
    /// Response log-probs and entropies, (B, T) each. For a large vocabulary (Qwen2: 152k) they are computed from the
    /// hidden states and the output projection in chunks of <paramref name="chunkSize"/> positions, so the
    /// (B, T, V) logits never exist; a small vocabulary takes the plain logits path. Always float32: a bfloat16 model's
    /// hidden states and output projection (or logits) are cast up first, so importance ratios are not bfloat16-noisy.
    /// </summary>
    public static TokenStatisticsResult ResponseStatistics(CausalLanguageModel model, TrainingBatch batch, int chunkSize = 1024)
    {
        using var scope = NewDisposeScope();
        TokenStatisticsResult stats;
        if (model.OutputWeight.shape[0] >= ChunkedVocabulary)
        {
            Tensor hidden = model.HiddenStates(batch.InputIds, batch.PositionIds, batch.AttentionMask);
            Tensor responseHidden = hidden.narrow(1, batch.PromptLength - 1, batch.ResponseLength).to_type(ScalarType.Float32);
            stats = TokenStatistics.FromHiddenStates(responseHidden, model.OutputWeight.to_type(ScalarType.Float32), batch.ResponseIds(), chunkSize);
        }
        else
        {
            Tensor logits = model.Forward(batch.InputIds, batch.PositionIds, batch.AttentionMask);
            Tensor responseLogits = logits.narrow(1, batch.PromptLength - 1, batch.ResponseLength).to_type(ScalarType.Float32);
            stats = TokenStatistics.Compute(responseLogits, batch.ResponseIds());
        }
        stats.LogProbs.MoveToOuterDisposeScope();
        stats.Entropy.MoveToOuterDisposeScope();
        return stats;
    }
}
