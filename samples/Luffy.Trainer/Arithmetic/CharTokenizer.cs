namespace Luffy.Trainer.Arithmetic;

/// <summary>Character-level tokenizer of the arithmetic task: PAD, BOS, EOS and the task's characters.</summary>
public sealed class CharTokenizer
{
    public const int Pad = 0, Bos = 1, Eos = 2;
    private const string Alphabet = "0123456789+=;:QA ";
    private readonly Dictionary<char, int> ids;

    public CharTokenizer()
    {
        ids = Alphabet.Select((c, i) => (c, i + 3)).ToDictionary(x => x.c, x => x.Item2);
    }

    public int VocabularySize => Alphabet.Length + 3;

    public int[] Encode(string text) => text.Select(c => ids.TryGetValue(c, out int id) ? id : throw new ArgumentException($"character '{c}' is not in the task's alphabet \"{Alphabet}\".", nameof(text))).ToArray();

    /// <summary>Decodes up to the first EOS; PAD and BOS are skipped.</summary>
    public string Decode(IEnumerable<int> tokens)
    {
        var chars = new List<char>();
        foreach (int t in tokens)
        {
            if (t == Eos)
            {
                break;
            }
            if (t >= 3 && t < VocabularySize)
            {
                chars.Add(Alphabet[t - 3]);
            }
        }
        return new string([.. chars]);
    }
}
