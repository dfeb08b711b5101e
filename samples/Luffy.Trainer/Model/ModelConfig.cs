namespace Luffy.Trainer.Model;

/// <summary>Shape of the sample's decoder-only transformer (MaxPositions bounds the sequences generation and training build, not a position table).</summary>
public sealed record ModelConfig(int VocabularySize, int DModel = 128, int Layers = 3, int Heads = 4, int MaxPositions = 128)
{
    public void Validate()
    {
        if (Heads < 1 || DModel % (2 * Heads) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(DModel), DModel, $"d-model must be divisible by 2 x heads ({Heads}): rotary positions rotate pairs of each head's dimensions.");
        }
        if (Layers < 1 || Heads < 1 || MaxPositions < 8 || VocabularySize < 3)
        {
            throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "layers and heads must be >= 1, max positions >= 8.");
        }
    }
}
