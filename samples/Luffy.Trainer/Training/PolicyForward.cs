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
    /// (B, T, V) logits never exist; a small vocabulary takes the plain logits path (the library's
    /// <c>TokenStatistics.FromHiddenStatesForResponses</c> and <c>ForResponses</c>). Always float32: a bfloat16 model's
    /// hidden states and output projection (or logits) are cast up first, so importance ratios are not bfloat16-noisy.
    /// </summary>
    public static TokenStatisticsResult ResponseStatistics(CausalLanguageModel model, TrainingBatch batch, int chunkSize = 1024)
    {
        using var scope = NewDisposeScope();
        TokenStatisticsResult stats = model.OutputWeight.shape[0] >= ChunkedVocabulary
            ? TokenStatistics.FromHiddenStatesForResponses(model.HiddenStates(batch.InputIds, batch.PositionIds, batch.AttentionMask), model.OutputWeight, batch, chunkSize)
            : TokenStatistics.ForResponses(model.Forward(batch.InputIds, batch.PositionIds, batch.AttentionMask), batch);
        stats.LogProbs.MoveToOuterDisposeScope();
        stats.Entropy.MoveToOuterDisposeScope();
        return stats;
    }
}
